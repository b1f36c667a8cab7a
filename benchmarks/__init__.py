"""The course's benchmark suite: ``python -m benchmarks`` (``make bench``).

Sections: ``bn_fusion``, ``activations``, ``numpy_reference``, ``course_runtime`` and
``grading_throughput``; each measures ratios side by side with ``benchmarks.harness``.
"""
