/* alliance--1.1--1.2.sql: what changed since the released 1.1 (assembled by the Makefile from sql/1.2/) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION alliance UPDATE TO '1.2'" to load this file. \quit
