export interface EventCatalogue {}
