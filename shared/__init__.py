"""What two or more MobixAI services must agree on: contracts, topology, errors, factories."""
