"""The side of the grader that runs learner code.

Only this package is visible inside the sandbox: it holds no expected answers,
no checks and no references, just the means to run learner code and report
what happened as plain data.
"""
