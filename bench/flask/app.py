"""Drop's landing and account pages on the Flask stack a careful Flask developer would use.

The comparison row E of bench/run.sh: flask-talisman (security headers, CSP with a nonce,
HTTPS redirect only when BENCH_HTTPS=1), flask-seasurf (CSRF token in the session),
flask-login (the signed-in user, loaded from SQLite on each request) and Jinja2, rendering
Drop's own templates (crates/palisade-app/templates) so both stacks send the same HTML.

Sessions are Flask's default: a signed cookie, no server-side record. Passwords use Werkzeug's
default hash. Run it under gunicorn (see bench/run.sh); BENCH_FLASK_DB names the SQLite file.
"""

import os
import sqlite3
import time
from pathlib import Path

from flask import Flask, g, redirect, render_template, request, session
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user
from flask_seasurf import SeaSurf
from flask_talisman import Talisman
from markupsafe import Markup, escape
from werkzeug.security import check_password_hash, generate_password_hash

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "crates" / "palisade-app"
DB_PATH = os.environ.get("BENCH_FLASK_DB", "/tmp/bench-flask.db")
HTTPS = os.environ.get("BENCH_HTTPS") == "1"

app = Flask(
    __name__,
    template_folder=str(APP_DIR / "templates"),
    static_folder=str(APP_DIR / "static"),
)
app.config.update(
    SECRET_KEY=os.environ.get("BENCH_FLASK_SECRET", "bench-only-" + os.urandom(16).hex()),
    # The form field and session key of SeaSurf's token, named like Drop's.
    CSRF_COOKIE_NAME="csrf_token",
    CSRF_COOKIE_SECURE=True,
    CSRF_COOKIE_HTTPONLY=True,
    SESSION_COOKIE_SAMESITE="Lax",
)

csp = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
Talisman(
    app,
    force_https=HTTPS,
    content_security_policy=csp,
    content_security_policy_nonce_in=["script-src"],
    frame_options="DENY",
    referrer_policy="strict-origin-when-cross-origin",
    session_cookie_secure=True,
    session_cookie_http_only=True,
)
csrf = SeaSurf(app)
login_manager = LoginManager(app)
login_manager.login_view = "login"


def db():
    conn = getattr(g, "_db", None)
    if conn is None:
        conn = g._db = sqlite3.connect(DB_PATH)
        conn.row_factory = sqlite3.Row
    return conn


@app.teardown_appcontext
def close_db(_exc):
    conn = g.pop("_db", None)
    if conn is not None:
        conn.close()


def init_db():
    """Creates the tables and the bench account (BENCH_EMAIL, BENCH_PASSWORD) once."""
    conn = sqlite3.connect(DB_PATH)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(
        """
        CREATE TABLE IF NOT EXISTS users (
            id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL, password_hash TEXT NOT NULL,
            is_admin INTEGER NOT NULL DEFAULT 0, totp_enabled INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE IF NOT EXISTS events (
            id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, kind TEXT NOT NULL,
            ip TEXT, detail TEXT, created_at INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS events_user ON events (user_id, created_at);
        """
    )
    email = os.environ.get("BENCH_EMAIL")
    password = os.environ.get("BENCH_PASSWORD")
    if email and password:
        conn.execute(
            "INSERT OR IGNORE INTO users (email, password_hash) VALUES (?, ?)",
            (email, generate_password_hash(password)),
        )
    conn.commit()
    conn.close()


class User(UserMixin):
    def __init__(self, row):
        self.id = row["id"]
        self.email = row["email"]
        self.is_admin = bool(row["is_admin"])
        self.totp_enabled = bool(row["totp_enabled"])


@login_manager.user_loader
def load_user(user_id):
    row = db().execute("SELECT * FROM users WHERE id = ?", (int(user_id),)).fetchone()
    return User(row) if row else None


@app.context_processor
def drop_template_helpers():
    """What Drop's templates call: static_url(), csrf_field(), csp_nonce, user, flash."""

    def static_url(name):
        return "/static/" + name

    def csrf_field():
        token = escape(csrf._get_token())
        return Markup(f'<input type="hidden" name="csrf_token" value="{token}">')

    user = current_user if current_user.is_authenticated else None
    return {
        "static_url": static_url,
        "csrf_field": csrf_field,
        "csp_nonce": getattr(request, "csp_nonce", ""),
        "user": user,
        "flash": None,
    }


@app.get("/")
def index():
    return render_template("index.html")


@app.get("/healthz")
def healthz():
    return "ok\n", 200, {"Cache-Control": "no-store"}


@app.route("/login", methods=["GET", "POST"])
def login():
    form = {"email": request.form.get("email", ""), "next": ""}
    if request.method == "POST":
        row = db().execute("SELECT * FROM users WHERE email = ?", (form["email"],)).fetchone()
        if row and check_password_hash(row["password_hash"], request.form.get("password", "")):
            session.clear()
            login_user(User(row))
            db().execute(
                "INSERT INTO events (user_id, kind, ip, detail, created_at) VALUES (?, ?, ?, ?, ?)",
                (row["id"], "sign-in", request.remote_addr, "", int(time.time())),
            )
            db().commit()
            return redirect("/account", code=303)
        return render_template("login.html", form=form, error="No match.", challenge=None), 401
    return render_template("login.html", form=form, error=None, challenge=None)


@app.get("/account")
@login_required
def account():
    rows = db().execute(
        "SELECT kind, ip, detail, created_at FROM events WHERE user_id = ? "
        "ORDER BY created_at DESC LIMIT 20",
        (current_user.id,),
    ).fetchall()
    events = [
        {
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(r["created_at"])),
            "kind": r["kind"],
            "ip": r["ip"] or "",
            "detail": r["detail"] or "",
        }
        for r in rows
    ]
    response = app.make_response(
        render_template("account.html", events=events, error=None, min_chars=12)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


init_db()
