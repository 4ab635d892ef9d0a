"""Ray Data / Ray Train adapters over the same stage functions as the local path (installed as
`aligner.pipelines`; extra `scale`).

  cluster.py   `ray_session(address)`: a cluster by address, or a local instance
  infer.py     `run_pipeline`: decode -> embed -> predict actor pools -> Parquet shards
  train.py     `train_on_shards`: TorchTrainer + DDP, streaming feature shards
The work itself is `aligner.stages`, `aligner.shards`, `aligner.tan`: no Ray there."""
