"""Sending the outbox: when an alert goes out (`pacing`), what it says (`message`, `markup`),
where it goes (`target`), and the job that does it (`deliver`)."""
