-- The product's own database (decision audit trail, ...) beside MLflow's; METERWISE_DATABASE_URL points here.
CREATE DATABASE meterwise OWNER meterwise;
