"""The shipping service: carrier choice by rate and transit time, bookings, pickups and tracking."""
