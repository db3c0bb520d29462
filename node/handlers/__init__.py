"""Automated inbound handlers: the interface, routing, the runner and the built-ins.

See ``docs/handlers.md``. A handler is an async callable that receives one committed
inbound :class:`~node.handlers.base.Item` and a :class:`~node.handlers.base.Context`.
"""
