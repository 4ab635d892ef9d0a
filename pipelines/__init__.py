"""Ray Data / Ray Train adapters over the same stage functions as the local path (installed as
`aligner.pipelines`; extra `scale`)."""
