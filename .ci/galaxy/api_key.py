"""Create the CI test user on a fresh Galaxy server and print a new API key for it.

Usage: api_key.py URL BOOTSTRAP_ADMIN_KEY EMAIL (the email is also an admin user in galaxy.yml).
"""

import json
import secrets
import sys
import urllib.parse
import urllib.request


def call(url: str, key: str, method: str = "GET", body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"x-api-key": key, "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)


def main(url: str, admin_key: str, email: str) -> None:
    users = call(f"{url}/api/users?f_email={urllib.parse.quote(email)}", admin_key)
    if not users:
        call(f"{url}/api/users", admin_key, "POST",
             {"username": email.split("@")[0], "email": email, "password": secrets.token_hex(12)})
        users = call(f"{url}/api/users?f_email={urllib.parse.quote(email)}", admin_key)
    print(call(f"{url}/api/users/{users[0]['id']}/api_key", admin_key, "POST"))


if __name__ == "__main__":
    main(*sys.argv[1:4])
