-- docker-compose.yml: the schema registry's database (Apicurio SQL storage).
create database apicurio;
