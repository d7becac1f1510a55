"""Sample data tooling: the generator of contract-shaped kcat dumps and their replay into Kafka."""
