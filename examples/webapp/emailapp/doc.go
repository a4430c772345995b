// Package emailapp is the user/email web service of corral's examples,
// txcaching's classic demo rebuilt: GET /email?username=… reads a
// deliberately slow store through a cached function and a cached HTTP
// response; POST /email changes the store and drops both through the key
// registry. It runs on the in-memory backend or, shared by several
// instances, on Redis.
//
// The programs examples/webapp (one instance) and examples/multiprocess (two
// instances on one Redis) run it.
package emailapp
