"""The tests' OAuth2 authorization server on loopback, for trying ``mailbot auth login``
by hand (and for the transcript in the README).

    .venv/bin/python bench/oauth_test_server.py --dir /tmp/oauth-demo [--port 8765]

It writes ``DIR/mailbot.toml`` with an ``[oauth.lab]`` device-flow table pointing at
itself, prints what to run, and serves until Ctrl-C. The "browser" is its ``/device``
page: ``curl -d user_code=XXXX-XXXX http://127.0.0.1:PORT/device`` signs in as
bot@example.test. Access tokens live ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.oauth.sets import oauth_toml
from tests.oauthserver import OAuthServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="where mailbot.toml goes")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lifetime", type=int, default=3600, help="access token seconds")
    args = parser.parse_args()
    server = OAuthServer(port=args.port, lifetime=args.lifetime).start()
    args.dir.mkdir(parents=True, exist_ok=True)
    config = args.dir / "mailbot.toml"
    config.write_text(
        '[store]\nurl = "sqlite:///mailbot.db"\n' + oauth_toml(server), encoding="utf-8"
    )
    print(f"authorization server: {server.url}", flush=True)
    print(f"configuration:        {config}", flush=True)
    print(f"sign in:  .venv/bin/mailbot --config {config} auth login lab", flush=True)
    print(f"browser:  curl -d user_code=CODE {server.url}/device", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
