# tests/e2e/lazy.sh: a small Flask site (Debian's python3-flask, Jinja
# templates), slimmed on its home page only; the other pages load a
# template, a stdlib module inside a view and a codec by name, lazily.
import sys
from flask import Flask, render_template

app = Flask(__name__)


@app.route("/")
def home():
    return render_template("home.html")


@app.route("/about")
def about():
    return render_template("about.html")


@app.route("/fraction")
def fraction():
    from fractions import Fraction  # imported only by this view
    return str(Fraction(1, 3) * 3)


@app.route("/encoding")
def encoding():
    return b"\xf0\xd2\xc9\xd7\xc5\xd4".decode("koi8_r")  # a codec looked up by name


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]))
