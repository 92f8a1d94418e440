"""The benchmarks of DESIGN.md section 7. Run ``python -m bench [NAME ...] [--check]``."""
