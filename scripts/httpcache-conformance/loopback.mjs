// Preloaded (node --import) into the suite's origin server so that it
// listens on 127.0.0.1 only: the server calls listen(port), which would
// otherwise bind every interface.
import net from 'node:net'

const listen = net.Server.prototype.listen

net.Server.prototype.listen = function (...args) {
  const portOnly = args.length > 0 &&
    (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) &&
    (args.length === 1 || typeof args[1] === 'function')
  if (portOnly) {
    args.splice(1, 0, '127.0.0.1')
  }
  return listen.apply(this, args)
}
