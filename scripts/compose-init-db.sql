-- First start of the compose PostgreSQL: zapflow's own role and database beside Temporal's.
CREATE ROLE zapflow LOGIN PASSWORD 'zapflow';
CREATE DATABASE zapflow OWNER zapflow;
