"""Sign-in for the review app: a users file of salted password hashes (`aligner users add`), or
the deployment's OIDC provider through `st.login` when `[auth]` is configured in its secrets.

A password sign-in opens a session in the store; its random token goes into a cookie (set by a
tiny component), so a reload or a server restart keeps the curator signed in for a week. The
identity comes only from here: a `?curator=` in the URL sets nothing.
"""

from __future__ import annotations

import functools
import secrets
import time

import streamlit as st
from aligner.ui import state

from aligner.errors import AlignerError
from aligner.users import check_sign_in, load_users, oidc_role

COOKIE = "aligner_session"
FAILED_SIGN_IN_DELAY_S = 1.0  # slows password guessing down
COOKIE_JS = """
export default function ({ data }) {
  const secure = location.protocol === "https:" ? "; Secure" : "";
  if (data.token) {
    document.cookie = `${data.name}=${data.token}; path=/; max-age=${data.max_age}; SameSite=Strict${secure}`;
  } else if (document.cookie.includes(data.name + "=")) {
    document.cookie = `${data.name}=; path=/; max-age=0; SameSite=Strict${secure}`;
  }
}
"""


@functools.cache
def _cookie_component():
    return st.components.v2.component("aligner_cookie", html="<span></span>", js=COOKIE_JS)


def _set_cookie(token: str) -> None:
    from aligner.store.curators import SESSION_TTL_S

    data = {"name": COOKIE, "token": token, "max_age": int(SESSION_TTL_S)}
    _cookie_component()(key="session_cookie", data=data, height=0)


def oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: Streamlit raises its own not-found error
        return False


def _from_cookie() -> bool:
    token = st.context.cookies.get(COOKIE)
    if not isinstance(token, str) or not token or st.session_state.get("_signed_out"):
        return False
    user = state.store().session_user(token)
    if user is None:
        return False
    _become(user["curator"], user["role"], token)
    return True


def _from_oidc() -> bool:
    if not oidc_configured() or not st.user.is_logged_in:
        return False
    identity = str(st.user.get("email") or st.user.get("name") or "")
    if not identity:
        return False
    _become(identity, oidc_role(state.users_file(), identity), None)
    return True


def _become(curator: str, role: str, token: str | None) -> None:
    st.session_state.update(curator=curator, role=role, _token=token)


def signed_in() -> bool:
    """True when this session has an identity (restored from the cookie or OIDC if possible)."""
    return bool(state.curator()) or _from_cookie() or _from_oidc()


def keep_cookie() -> None:
    """Mount the cookie setter (every run, so it stays; it writes only when asked)."""
    _set_cookie(st.session_state.get("_token") or "")


def sign_out() -> None:
    token = st.session_state.get("_token")
    if token:
        state.store().close_session(token)
    for key in ("curator", "role", "_token", "video_id", "_nav", "_acks", "_saved_place"):
        st.session_state.pop(key, None)
    st.session_state["_signed_out"] = True
    if oidc_configured() and st.user.is_logged_in:
        st.logout()


def _password_form() -> None:
    users_file = state.users_file()
    try:
        users = load_users(users_file)
    except AlignerError as err:
        st.error(str(err))
        return
    if not any("password" in u for u in users.values()):
        st.info(state.escape_markdown(f"No users with a password yet. Add one with: aligner"
                                      f" users add NAME --file {users_file}"))  # fmt: skip
        return
    with st.form("sign_in"):
        name = st.text_input("Name", key="sign_in_name")
        password = st.text_input("Password", type="password", key="sign_in_password")
        if not st.form_submit_button("Sign in"):
            return
    role = check_sign_in(users_file, name, password)
    if role is None:
        time.sleep(FAILED_SIGN_IN_DELAY_S)
        st.error("Wrong name or password.")
        return
    token = secrets.token_urlsafe(32)
    state.store().open_session(token, name.strip(), role)
    _become(name.strip(), role, token)
    st.session_state.pop("_signed_out", None)
    st.rerun()


def sign_in_page() -> None:
    st.title("Aligner review")
    st.write("Sign in: your name is stored with every decision you make.")
    if oidc_configured():
        st.button("Sign in with your organisation's account", key="oidc", on_click=st.login)
    _password_form()
    keep_cookie()  # clears a stale cookie after sign-out
