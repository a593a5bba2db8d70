"""Column helpers shared by the SDTM and ADaM derivations."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def per_distinct(fn: Callable[..., object], *columns: pd.Series) -> np.ndarray:
    """fn of each row's values, worked out once per distinct combination (dates and results repeat on many rows)."""
    frame = pd.DataFrame({i: c.astype(object).to_numpy() for i, c in enumerate(columns)})
    if frame.empty:
        return np.empty(0, dtype=object)
    group = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy()
    _, first = np.unique(group, return_index=True)
    values = np.empty(len(first), dtype=object)
    values[:] = [fn(*row) for row in frame.iloc[first].itertuples(index=False, name=None)]
    return values[group]
