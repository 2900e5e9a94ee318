"""The top of the stack: what joins the apps together, reached by nothing below it.

The URLconfs of the platform site, of a provider's domain and of its REST API (they name every
app's views), and the demo (`seed_demo`: two providers that live a year through every app's
services). Apps import `majismart` and the apps below them (shared/DESIGN.md); only this package
imports them all."""
