import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AppError, PostNotFoundError } from '../../errors.js';
import type { Store } from '../../stores/store.js';
import { strictIntegers } from '../strict-integers.js';
import { COMMON_ERRORS, ErrorSchema, PostParams, PostSchema, PostsPage, PostsQuery } from '../schemas.js';
import { Type } from '@sinclair/typebox';

export const postsRoutes: FastifyPluginAsyncTypebox<{ store: Store }> = async (app, { store }) => {
  app.get(
    '/posts',
    {
      preValidation: strictIntegers,
      schema: {
        summary: 'Stored posts in ascending id order, by offset or by keyset (after)',
        querystring: PostsQuery,
        response: { 200: PostsPage, ...COMMON_ERRORS },
      },
    },
    async (request) => {
      const { limit, offset, after } = request.query as PostsQuery;
      if (after !== undefined && offset !== 0) {
        throw new AppError('INVALID_REQUEST', 400, 'use either offset or after, not both: after pages from an id, offset from the start');
      }
      const posts = await store.listPosts({ limit, offset, after });
      const last = posts.at(-1);
      return { posts, count: posts.length, limit, offset, next_after: posts.length === limit && last ? last.id : null };
    },
  );

  app.get(
    '/posts/:id',
    {
      preValidation: strictIntegers,
      schema: {
        summary: 'One post by id',
        params: PostParams,
        // 414 comes from the router (a parameter over 100 characters), before the schema; documented here.
        response: { 200: Type.Ref(PostSchema), 404: Type.Ref(ErrorSchema), 414: Type.Ref(ErrorSchema), ...COMMON_ERRORS },
      },
    },
    async (request) => {
      const post = await store.getPost(request.params.id);
      if (!post) throw new PostNotFoundError(request.params.id);
      return post;
    },
  );
};
