# The hub test's additions to hub/jupyterhub_config.py (`./kernel-setup.sh hub --config`):
# a password for the test's own users instead of PAM, and an API token for the test.
import os

c = get_config()  # noqa: F821 (JupyterHub defines it)
env = os.environ
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = env["LOSSVIZ_HUB_TEST_PASSWORD"]
c.Authenticator.allowed_users = set(env["LOSSVIZ_HUB_TEST_USERS"].split(","))
c.Authenticator.admin_users = set()
with open(env["LOSSVIZ_HUB_TEST_TOKEN_FILE"]) as f:
    token = f.read().strip()
c.JupyterHub.services = [{"name": "lossviz-test", "api_token": token}]
c.JupyterHub.load_roles = [
    {
        "name": "lossviz-test",
        "scopes": ["admin:users", "admin:servers", "access:servers", "read:users"],
        "services": ["lossviz-test"],
    }
]
