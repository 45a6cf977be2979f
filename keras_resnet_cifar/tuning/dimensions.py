"""Checks of the values a search dimension may take; each error names what was received and accepted."""
import numbers

from keras_resnet_cifar.optimizer_table import OPTIMIZERS


def _as_tuple(name, value):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        value = (value,)
    if not value:
        raise ValueError(f"{name}: received an empty list; accepted: one value (fixed) or several (searched)")
    return tuple(value)


def ints(name, value, minimum):
    """Sorted unique integers >= minimum (one value or several)."""
    items = _as_tuple(name, value)
    for item in items:
        if not isinstance(item, numbers.Integral) or isinstance(item, bool) or item < minimum:
            raise ValueError(f"{name}: received {list(items)}; accepted: integers >= {minimum}")
    return tuple(sorted({int(i) for i in items}))


def floats(name, value):
    """Sorted unique numbers >= 0 (one value or several)."""
    items = _as_tuple(name, value)
    for item in items:
        if not isinstance(item, numbers.Real) or isinstance(item, bool) or item < 0:
            raise ValueError(f"{name}: received {list(items)}; accepted: numbers >= 0")
    return tuple(sorted({float(i) for i in items}))


def choices(name, value, resolve):
    """Unique values in the order given, each mapped through `resolve` (which raises ValueError)."""
    seen = []
    for item in _as_tuple(name, value):
        try:
            canonical = resolve(item)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
        if canonical not in seen:
            seen.append(canonical)
    return tuple(seen)


def value_range(name, value, kind, positive=False, minimum=1):
    """(low, high) from one value (fixed) or two (searched); `kind` int or float; not `positive`: each >= `minimum`."""
    items = _as_tuple(name, value)
    low_ok = (lambda v: v > 0) if positive else (lambda v: v >= minimum)
    bad = [v for v in items if not isinstance(v, numbers.Real) or isinstance(v, bool)
           or (kind is int and not isinstance(v, numbers.Integral)) or not low_ok(v)]
    if len(items) > 2 or bad or items[0] > items[-1]:
        accepted = "numbers > 0" if positive else f"integers >= {minimum}"
        raise ValueError(f"{name}: received {list(items)}; accepted: one value (fixed) or low high "
                         f"(searched, low <= high), {accepted}")
    return (kind(items[0]), kind(items[-1]))


def budget(name, value):
    """A positive budget as an int."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}: received {value!r}; accepted: a positive number, e.g. 5000000")
    return int(value)


def optimizer(name):
    """The lower-cased optimizer name, if `make_optimizer` accepts it."""
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise ValueError(f"received {name!r}; accepted: {', '.join(OPTIMIZERS)}")
    return name.lower()
