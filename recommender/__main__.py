"""``python -m recommender`` is the same as the ``recommend`` console script."""

from recommender.cli import main

main()
