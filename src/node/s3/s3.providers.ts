import type { Provider } from '@nestjs/common';
import { BucketHandler } from './bucket.handler.js';
import { CopyHandler } from './copy.handler.js';
import { DeleteHandler } from './delete.handler.js';
import { ListHandler } from './list.handler.js';
import { MultipartHandler } from './multipart.handler.js';
import { MultipartSweepScheduler } from './multipart-sweep.scheduler.js';
import { ObjectHandler } from './object.handler.js';
import { S3ApiServer } from './s3-api.server.js';
import { S3Router } from './s3-router.js';
import { S3StoreService } from './s3-store.service.js';

/**
 * The S3 front end's providers. They join the node module's own container (not a module of their own) because they
 * call the same coordinator and listing services as /v1, which that module does not export; the server starts only
 * when S3_PORT is set.
 */
export const S3_PROVIDERS: Provider[] = [S3StoreService, BucketHandler, ObjectHandler, ListHandler, CopyHandler, DeleteHandler, MultipartHandler, MultipartSweepScheduler, S3Router, S3ApiServer];
