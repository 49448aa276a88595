"""Running rows: on this machine (local.py, what `repro run` does), on SLURM through submitit
(slurm.py), the job log that `repro status` / `repro cancel` read (joblog.py), cluster profiles
(profiles.py) and the CPU thread choice made before torch loads (threads.py).

Imports nothing: the CLI reads threads.py before any command runs, and `repro status` must not
pay for submitit or torch.
"""
