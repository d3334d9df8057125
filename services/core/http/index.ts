export {
  createHttpServer,
  onTerminate,
  shutdownGracefully,
  type HttpServer,
  type HttpServerOptions,
  type ReadinessCheck,
  type ShutdownStep,
} from './server.ts';
