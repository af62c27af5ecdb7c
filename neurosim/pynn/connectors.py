"""PyNN's connectors, with a fix for NumPy >= 2.1.

PyNN 0.13's map-based connectors hand ``_standard_connect`` one column of the connection map
per post-synaptic neuron; with a one-neuron pre-synaptic population that column is a 0-d
array, and NumPy 2.1 turned ``nonzero()`` on 0-d arrays from a deprecation into an error
("Calling nonzero on 0d arrays is not allowed"), so e.g. a OneToOneConnector between two
one-neuron populations fails on every backend. The connectors exported here are PyNN's, each
with that column made 1-d first.
"""

from __future__ import annotations

import numpy as np
from pyNN import connectors


class _OneDimensionalColumns:
    def _standard_connect(self, projection, connection_map_generator, distance_map=None):
        def columns(*args, **kwargs):
            for column in connection_map_generator(*args, **kwargs):
                yield np.atleast_1d(column) if isinstance(column, (np.ndarray, np.generic)) and column.ndim == 0 else column

        return super()._standard_connect(projection, columns, distance_map)


def _fixed(cls):
    return type(cls.__name__, (_OneDimensionalColumns, cls), {"__doc__": cls.__doc__, "__module__": __name__})


__all__ = []
for _name in dir(connectors):
    _obj = getattr(connectors, _name)
    if isinstance(_obj, type) and issubclass(_obj, connectors.Connector) and _name.endswith("Connector"):
        globals()[_name] = _fixed(_obj) if issubclass(_obj, connectors.MapConnector) else _obj
        __all__.append(_name)
