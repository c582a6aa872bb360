#!/usr/bin/env node
// The small-file floor: bare NestJS 12 on Express with one controller and an in-memory map — what the framework
// alone costs per request, measured beside Shoal in the same run (bench/small.mjs). No hashing, no disk.
//   node bench/floor-nest.mjs --port P [--host 127.0.0.1]
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { Controller, Get, Module, Put, Req, Res } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

const { port, host } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } }).values;
const files = new Map();

// Plain JavaScript has no decorator syntax on Node 20: the decorators are applied as the functions they are.
class FilesController {
  put(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      files.set(req.params.key.join('/'), body);
      res.status(201).json({ key: req.params.key.join('/'), size: body.length });
    });
  }

  get(req, res) {
    const body = files.get(req.params.key.join('/'));
    if (!body) return res.status(404).json({ code: 'NOT_FOUND' });
    res.setHeader('content-type', 'application/octet-stream');
    res.end(body);
  }

  ready(_req, res) {
    res.json({ status: 'ok' });
  }
}
Controller()(FilesController);
for (const [method, decorator, path] of [['put', Put, 'v1/files/*key'], ['get', Get, 'v1/files/*key'], ['ready', Get, 'health/ready']]) {
  const desc = Object.getOwnPropertyDescriptor(FilesController.prototype, method);
  Req()(FilesController.prototype, method, 0);
  Res()(FilesController.prototype, method, 1);
  decorator(path)(FilesController.prototype, method, desc);
}
class FloorModule {}
Module({ controllers: [FilesController] })(FloorModule);

const app = await NestFactory.create(FloorModule, { logger: false, bodyParser: false });
await app.listen(Number(port), host);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
