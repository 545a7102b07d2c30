// Loaded by ava before each test file, in the test file's own worker (ava's "require" option).
import { activate } from 'tethered'

activate({ allow: [`127.0.0.1:${process.env.RECIPE_ALLOWED_PORT}`], allowLocalhost: false })
