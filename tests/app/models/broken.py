"""A model module that breaks the contract: no predict."""


def forecast(msg):
    return msg
