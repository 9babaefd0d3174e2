"""The baseline: a bare Flask "hello" route, served by the same gunicorn settings as the app
(`gunicorn -c bench/hello_gunicorn.conf.py bench.hello:app`)."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, world!"
