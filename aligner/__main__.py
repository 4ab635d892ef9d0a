from aligner.cli import main

raise SystemExit(main())
