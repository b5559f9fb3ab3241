"""Trusted code that builds live objects in the worker and reports observations.

A check that needs a model, an optimizer or parameters with gradients asks for
a scenario by name; the scenario runs the learner's code on objects it built
and sends back plain data. The judge decides what the observations mean.
"""
