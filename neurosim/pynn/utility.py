"""``get_simulator`` that also knows neurosim: PyNN's example scripts pick their backend with
``pyNN.utility.get_simulator`` (``python script.py nest``), which imports ``pyNN.<name>``. Change
their import line to ``from neurosim.pynn.utility import get_simulator`` and they run on
``python script.py neurosim`` as well as on every PyNN backend."""

from __future__ import annotations

import argparse
from importlib import import_module


def get_simulator(*arguments):
    """Import and return a PyNN backend chosen by the first command-line argument, and the
    parsed arguments: "neurosim" is :mod:`neurosim.pynn`, any other name ``pyNN.<name>``.
    ``arguments`` are extra (name, help[, argparse options]) tuples, as PyNN's own."""
    parser = argparse.ArgumentParser()
    parser.add_argument("simulator", help="neurosim, or a PyNN backend: nest, neuron, brian2, ...")
    for argument in arguments:
        name, help_text = argument[:2]
        parser.add_argument(name, help=help_text, **(argument[2] if len(argument) > 2 else {}))
    args = parser.parse_args()
    module = "neurosim.pynn" if args.simulator == "neurosim" else f"pyNN.{args.simulator}"
    return import_module(module), args
