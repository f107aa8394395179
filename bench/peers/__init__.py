"""The servers ``bench/bench.py`` compares ``python -m app`` with, each answering the echo contract.

They run from ``bench/.venv-peers`` (created by the benchmark), never from the app's venv. Each
reads ``MODEL_MODULE`` (a dotted module name, as ``python -m app`` does): unset, it echoes
``msg`` inline; set, it answers ``predict(msg)`` of that module, called the way its framework
runs blocking code.
"""
