import { ApiError } from '../contract/api-error.js';

export { ApiError };

export const forbidden = (message = 'your role may not do this') => new ApiError(403, 'forbidden', message);
export const unauthenticated = (message = 'log in first') => new ApiError(401, 'unauthenticated', message);
