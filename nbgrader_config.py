"""nbgrader configuration for the course (run nbgrader commands from the repository root)."""

import os

c = get_config()  # noqa: F821  (provided by nbgrader/traitlets)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "training-dnns"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
