"""Pipelines: the only layer that knows both the domain modules (io, stats, ld, loci) and the
engine (plan, executor, checkpoint). Each pipeline takes an inputs object, a frozen
configuration and an :class:`~gwaskit.engine.execute.Execution`, and returns a result object
(table + metadata). The CLI maps flags to these objects and calls one pipeline function.
"""
