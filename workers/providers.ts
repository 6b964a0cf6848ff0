/** Provider wiring moved to providers/ (the API needs it too); kept so that older imports keep compiling. */
export * from '../providers';
