"""First start on the embedded defaults: a ``dev`` user, its key, where to sign in, and a curl line to paste."""

from __future__ import annotations

from aiohttp import web

from origin.app_keys import KEYS, SETTINGS

DEV_USER = "dev"


async def bootstrap_dev_user(app: web.Application) -> None:
    settings, keys = app[SETTINGS], app[KEYS]
    base = f"http://localhost:{settings.port}"
    if await keys.user_plan(DEV_USER) is None:
        await keys.ensure_user(DEV_USER, settings.default_plan)
        api_key = await keys.create_key(DEV_USER)
        intro = f"Created user '{DEV_USER}' with API key (shown once, keep it):\n\n    {api_key}\n"
    else:
        api_key = "sk_live_..."
        intro = (
            f"User '{DEV_USER}' exists; its key was printed at first start. A new one:\n"
            f"    .venv/bin/picora-origin keys create --user {DEV_USER}\n"
        )
    print(
        f"\n{intro}\nSign in to the dashboard with that key:\n\n    {base}/dashboard/\n"
        f"\nUpload an image:\n\n"
        f'    curl -H "Authorization: Bearer {api_key}" -F file=@photo.jpg {base}/v1/images\n',
        flush=True,
    )
