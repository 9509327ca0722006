"""An example of *your* code, as batchline's containers run it: a package of its own (not part
of batchline) that the workers import by name because it lies in ``/srv/app``, their working
directory and ``PYTHONPATH``. See docs/your-app.md, "Containers"."""
