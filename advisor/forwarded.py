"""Driver-side objects that a unit running elsewhere calls by message instead of by reference.

Objects that belong to the driver (the progress reporter, an arm's sample sink) derive from
`Forwarded`. While an executor pickles a unit for a worker inside `forwarding(ctx)`, each such
object is replaced by a `Stub` whose forwarded methods send `(object id, method, args,
kwargs)` over `ctx.channel`; the driver applies the messages to the real object
(`Forwarding.apply`). Forwarded methods return nothing, so a worker never waits on the
driver. Outside `forwarding` these objects pickle as themselves.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, ClassVar, Iterator

__all__ = ["Forwarded", "Stub", "Forwarding", "forwarding"]

_state = threading.local()  # .ctx: the Forwarding active while this thread pickles units


class Stub:
    """A worker's stand-in for a driver object: forwarded methods become messages."""

    def __init__(self, channel: Any, cid: int, names: tuple[str, ...]) -> None:
        self._channel, self._cid, self._names = channel, cid, names

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("_") or name not in self._names:
            raise AttributeError(f"{name!r} is not forwarded to the driver")
        return lambda *args, **kwargs: self._channel.send((self._cid, name, args, kwargs))

    def close(self) -> None:  # the driver's object is closed by the driver
        pass


def _make_stub(stub_cls: type, channel: Any, cid: int, names: tuple[str, ...]) -> Any:
    return stub_cls(channel, cid, names)


class _ForwardedMethod:
    """A forwarded method taken off its object (`status=reporter.status`). It pickles as
    `getattr(object, name)`, so inside `forwarding` it becomes the stub's forwarding call;
    a plain bound method would pickle (with cloudpickle, as Ray does) as the real function
    bound to the stub, and run the driver's code on a stand-in that has none of its state."""

    __slots__ = ("obj", "name", "bound")

    def __init__(self, obj: Any, name: str, bound: Callable[..., Any]) -> None:
        self.obj, self.name, self.bound = obj, name, bound

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.bound(*args, **kwargs)

    def __reduce__(self) -> Any:
        return (getattr, (self.obj, self.name))


class Forwarded:
    """A driver-side object whose calls a remote executor forwards instead of shipping it.

    `forwarded` names the methods a worker may call (they must return None); `stub` is the
    class a worker gets in its place (a subclass of `Stub` may keep state of its own)."""

    forwarded: ClassVar[tuple[str, ...]] = ()
    stub: ClassVar[type] = Stub

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if name in type(self).forwarded and callable(value):
            return _ForwardedMethod(self, name, value)
        return value

    def __reduce_ex__(self, protocol: Any) -> Any:
        ctx = getattr(_state, "ctx", None)
        if ctx is None:  # ordinary pickling (copy, caches): the object itself
            return object.__reduce_ex__(self, protocol)
        return (_make_stub, (type(self).stub, ctx.channel, ctx.register(self), type(self).forwarded))


class Forwarding:
    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.objects: dict[int, Any] = {}

    def register(self, obj: Any) -> int:
        self.objects[id(obj)] = obj
        return id(obj)

    def apply(self, message: tuple) -> None:
        cid, name, args, kwargs = message
        obj = self.objects.get(cid)
        if obj is not None and name in type(obj).forwarded:
            getattr(obj, name)(*args, **kwargs)


@contextmanager
def forwarding(ctx: Forwarding) -> Iterator[None]:
    """Pickle `Forwarded` objects as stubs on `ctx.channel` while this block runs (this thread only)."""
    previous = getattr(_state, "ctx", None)
    _state.ctx = ctx
    try:
        yield
    finally:
        _state.ctx = previous
