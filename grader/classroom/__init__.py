"""What serves an instructor: a class graded at once (batch), an nbgrader course (build,
autograde, validate in a kernel), and the class report."""
