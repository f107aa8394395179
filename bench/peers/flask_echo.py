"""The seed's server: the original article's tiny Flask echo app on Flask's development server.

``app.run(threaded=True)``: one thread per connection, and Werkzeug's default request log (one
line per request, on stderr). Run as ``python bench/peers/flask_echo.py PORT``.

With ``MODEL_MODULE`` set, it answers that module's ``predict(msg)``, called in the request's
own thread (the development server's only way).
"""

import importlib
import os
import sys

from flask import Flask, jsonify, request

app = Flask(__name__)
MODEL_MODULE = os.environ.get("MODEL_MODULE")
model = importlib.import_module(MODEL_MODULE) if MODEL_MODULE else None


@app.route("/predict", methods=["GET", "POST"])
def predict():
    msg = request.args.get("msg")
    response = msg if model is None else model.predict(msg)
    return jsonify({"response": response, "success": True})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
