"""A model that takes 20 ms of wall time per call (sleeping: it holds its lane, not the CPU)."""

import time


def predict(msg):
    time.sleep(0.02)
    return msg
