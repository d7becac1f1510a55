"""The shared base of every component: settings, the Iceberg catalog and every table's schema,
Kafka offsets kept in snapshots, table maintenance. It imports none of the components."""
